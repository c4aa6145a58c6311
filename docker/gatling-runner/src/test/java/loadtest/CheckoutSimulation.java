package loadtest;

import static io.gatling.javaapi.core.CoreDsl.constantUsersPerSec;
import static io.gatling.javaapi.core.CoreDsl.scenario;
import static io.gatling.javaapi.http.HttpDsl.http;
import static io.gatling.javaapi.http.HttpDsl.status;

import io.gatling.javaapi.core.ScenarioBuilder;
import io.gatling.javaapi.core.Simulation;
import io.gatling.javaapi.http.HttpProtocolBuilder;
import java.time.Duration;

/**
 * An example simulation: replace it with your own. Every runner pod of the Job runs this same
 * load; the total is rate x completions. Settings come from system properties (JAVA_OPTS) or
 * environment variables of the Job.
 */
public class CheckoutSimulation extends Simulation {

  private static String setting(String property, String env, String fallback) {
    String value = System.getProperty(property);
    if (value == null || value.isEmpty()) {
      value = System.getenv(env);
    }
    return value == null || value.isEmpty() ? fallback : value;
  }

  private final String baseUrl = setting("baseUrl", "TARGET_BASE_URL", "http://localhost:8080");
  private final double usersPerSec = Double.parseDouble(setting("usersPerSec", "USERS_PER_SEC", "5"));
  private final long seconds = Long.parseLong(setting("durationSeconds", "DURATION_SECONDS", "60"));

  private final HttpProtocolBuilder protocol = http.baseUrl(baseUrl).warmUp(baseUrl);

  private final ScenarioBuilder checkout =
      scenario("checkout")
          .exec(http("home").get("/").check(status().in(200, 204, 301, 302)))
          .pause(Duration.ofMillis(200))
          .exec(http("cart").get("/cart").check(status().lt(500)));

  {
    setUp(checkout.injectOpen(constantUsersPerSec(usersPerSec).during(Duration.ofSeconds(seconds))))
        .protocols(protocol);
  }
}
