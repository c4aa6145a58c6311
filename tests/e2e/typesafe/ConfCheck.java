// Reads gatling.conf files the way Gatling does (Typesafe Config: parse, then resolve, with
// environment variables as the fallback of substitutions) and prints one JSON line per file:
//   {"file": F, "destination": {"writers": …, "host": …, "port": …, "protocol": …, "rootPathPrefix": …},
//    "root": <the whole resolved config>}
// or {"file": F, "error": MESSAGE}. One JVM for many files:
//   java -cp config-1.4.3.jar ConfCheck.java FILE...
import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigRenderOptions;
import com.typesafe.config.ConfigValueFactory;
import java.io.File;

public class ConfCheck {
    private static final String GRAPHITE = "gatling.data.graphite.";
    private static final ConfigRenderOptions JSON = ConfigRenderOptions.concise();

    private static String json(Object value) {
        return ConfigValueFactory.fromAnyRef(value).render(JSON);
    }

    // Every character outside printable ASCII as a \\uXXXX escape: such characters only occur inside
    // JSON strings here, and the output then means the same in any console encoding.
    private static String ascii(String text) {
        StringBuilder out = new StringBuilder(text.length());
        for (char c : text.toCharArray()) {
            out.append(c < 0x7f ? String.valueOf(c) : String.format("\\u%04x", (int) c));
        }
        return out.toString();
    }

    private static String valueAt(Config config, String path) {
        return config.hasPathOrNull(path) ? config.getValue(path).render(JSON) : "null";
    }

    private static String check(String file) {
        try {
            ConfigParseOptions options = ConfigParseOptions.defaults().setAllowMissing(false);
            Config config = ConfigFactory.parseFile(new File(file), options).resolve();
            StringBuilder out = new StringBuilder("{\"file\":").append(json(file)).append(",\"destination\":{");
            out.append("\"writers\":").append(valueAt(config, "gatling.data.writers"));
            for (String key : new String[] {"host", "port", "protocol", "rootPathPrefix"}) {
                out.append(",\"").append(key).append("\":").append(valueAt(config, GRAPHITE + key));
            }
            return out.append("},\"root\":").append(config.root().render(JSON)).append("}").toString();
        } catch (ConfigException e) {
            return "{\"file\":" + json(file) + ",\"error\":" + json(e.getMessage()) + "}";
        }
    }

    public static void main(String[] args) {
        for (String file : args) {
            System.out.println(ascii(check(file)));
        }
    }
}
