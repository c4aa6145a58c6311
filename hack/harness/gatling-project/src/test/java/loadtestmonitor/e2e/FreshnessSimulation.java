package loadtestmonitor.e2e;

import static io.gatling.javaapi.core.CoreDsl.constantUsersPerSec;
import static io.gatling.javaapi.core.CoreDsl.scenario;
import static io.gatling.javaapi.http.HttpDsl.http;

import io.gatling.javaapi.core.ScenarioBuilder;
import io.gatling.javaapi.core.Simulation;
import io.gatling.javaapi.http.HttpProtocolBuilder;
import java.time.Duration;

/**
 * The load of the freshness benchmark (bench/freshness_bench.py): a constant request rate, one
 * request per user, so that the time from a response to its count in InfluxDB can be measured.
 *
 * System properties: target.baseUrl, fresh.rate (requests/s), fresh.seconds (how long).
 */
public class FreshnessSimulation extends Simulation {

  private static final String BASE_URL = System.getProperty("target.baseUrl", "http://127.0.0.1:8080");
  private static final double RATE = Double.parseDouble(System.getProperty("fresh.rate", "10"));
  private static final int SECONDS = Integer.getInteger("fresh.seconds", 20);

  private final HttpProtocolBuilder httpProtocol =
      http.baseUrl(BASE_URL)
          // The default warm-up calls an Internet address: all traffic here stays on loopback.
          .disableWarmUp()
          // One connection pool for all users: at 1,000 users/s a connection per user would
          // measure the target's accept loop, not the data path.
          .shareConnections()
          .acceptHeader("text/plain");

  private final ScenarioBuilder fresh = scenario("fresh").exec(http("ping").get("/ok?fresh"));

  {
    setUp(fresh.injectOpen(constantUsersPerSec(RATE).during(Duration.ofSeconds(SECONDS))))
        .protocols(httpProtocol);
  }
}
