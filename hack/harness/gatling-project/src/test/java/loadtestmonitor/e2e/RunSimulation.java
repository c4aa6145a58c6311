package loadtestmonitor.e2e;

import static io.gatling.javaapi.core.CoreDsl.constantUsersPerSec;
import static io.gatling.javaapi.core.CoreDsl.exec;
import static io.gatling.javaapi.core.CoreDsl.scenario;
import static io.gatling.javaapi.http.HttpDsl.http;

import io.gatling.javaapi.core.ScenarioBuilder;
import io.gatling.javaapi.core.Simulation;
import io.gatling.javaapi.http.HttpProtocolBuilder;
import java.time.Duration;

/**
 * The load of a LoadtestRun's end-to-end checks: a short, steady shop visit whose outcome is set by
 * system properties, so one compiled simulation gives a passing run, a run over its error ratio and
 * a slow run (for p95 and baseline criteria).
 *
 * Each user requests "home" then "pay". System properties: target.baseUrl (the harness's HTTP
 * target), run.usersPerSec and run.seconds (this runner's share: the LoadtestRun's runners each
 * run it), run.delayMs (the target answers that much later: response times the criteria can
 * judge) and run.failPay (true: "pay" hits /fail, so half of the requests are KO).
 */
public class RunSimulation extends Simulation {

  private static final String BASE_URL = System.getProperty("target.baseUrl", "http://127.0.0.1:8080");
  private static final int USERS_PER_SEC = Integer.getInteger("run.usersPerSec", 5);
  private static final int SECONDS = Integer.getInteger("run.seconds", 3);
  private static final int DELAY_MS = Integer.getInteger("run.delayMs", 0);
  private static final boolean FAIL_PAY = Boolean.parseBoolean(System.getProperty("run.failPay", "false"));

  private final HttpProtocolBuilder httpProtocol =
      http.baseUrl(BASE_URL)
          // The default warm-up calls an Internet address: all traffic here stays on loopback.
          .disableWarmUp()
          .acceptHeader("text/plain");

  private final ScenarioBuilder shop =
      scenario("shop")
          .exec(
              http("home").get("/ok?delayMs=" + DELAY_MS),
              http("pay").get((FAIL_PAY ? "/fail" : "/ok") + "?delayMs=" + DELAY_MS));

  {
    setUp(shop.injectOpen(constantUsersPerSec(USERS_PER_SEC).during(Duration.ofSeconds(SECONDS))))
        .protocols(httpProtocol);
  }
}
