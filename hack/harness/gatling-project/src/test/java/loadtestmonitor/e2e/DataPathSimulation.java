package loadtestmonitor.e2e;

import static io.gatling.javaapi.core.CoreDsl.exec;
import static io.gatling.javaapi.core.CoreDsl.constantUsersPerSec;
import static io.gatling.javaapi.core.CoreDsl.group;
import static io.gatling.javaapi.core.CoreDsl.rampUsers;
import static io.gatling.javaapi.core.CoreDsl.scenario;
import static io.gatling.javaapi.http.HttpDsl.http;

import io.gatling.javaapi.core.ChainBuilder;
import io.gatling.javaapi.core.ScenarioBuilder;
import io.gatling.javaapi.core.Simulation;
import io.gatling.javaapi.http.HttpProtocolBuilder;
import java.time.Duration;

/**
 * The load of the end-to-end data-path test: two scenarios, requests outside groups, in a group
 * and in a group nested in a group, some always failing (HTTP 500), some failing now and then.
 *
 * The same request name ("item") is used outside groups, in "shop" and in "shop"/"cart", so a
 * series that lands with the wrong group tag cannot go unnoticed. "search page" has a space,
 * which Gatling sanitises to "search_page" in Graphite paths.
 *
 * System properties: target.baseUrl (the local HTTP target), e2e.browseUsers, e2e.loops,
 * e2e.checkoutRate (users/s) and e2e.checkoutSeconds (how long checkout users arrive).
 */
public class DataPathSimulation extends Simulation {

  private static final String BASE_URL = System.getProperty("target.baseUrl", "http://127.0.0.1:8080");
  private static final int BROWSE_USERS = Integer.getInteger("e2e.browseUsers", 4);
  private static final int LOOPS = Integer.getInteger("e2e.loops", 8);
  private static final int CHECKOUT_RATE = Integer.getInteger("e2e.checkoutRate", 2);
  private static final int CHECKOUT_SECONDS = Integer.getInteger("e2e.checkoutSeconds", 6);

  /**
   * Every user ends with a quiet period longer than Graphite's writePeriod: Gatling flushes once more
   * when the run stops, and if that flush falls in the same epoch second as the last periodic one,
   * InfluxDB keeps only the later point (same series, same timestamp). With nothing sent in the
   * last seconds, both flushes carry zero counts and nothing is lost.
   */
  private static final Duration TAIL = Duration.ofMillis(
      Long.getLong("e2e.tailMillis", 3000L));

  private final HttpProtocolBuilder httpProtocol =
      http.baseUrl(BASE_URL)
          // The default warm-up calls an Internet address: all traffic here stays on loopback.
          .disableWarmUp()
          .acceptHeader("text/plain");

  private final ChainBuilder browseOnce =
      exec(
          http("item").get("/ok?where=top"),
          http("search page").get("/ok?where=search"),
          http("broken").get("/fail"),
          group("shop").on(
              exec(
                  http("item").get("/ok?where=shop"),
                  http("flaky").get("/flaky"),
                  group("cart").on(
                      exec(
                          http("item").get("/ok?where=cart"),
                          http("pay").get("/fail?where=cart"))))))
          .pause(Duration.ofMillis(300));

  private final ScenarioBuilder browse =
      scenario("browse").repeat(LOOPS).on(browseOnce).pause(TAIL);

  private final ScenarioBuilder checkout =
      scenario("checkout")
          .exec(
              group("checkout").on(
                  exec(
                      http("item").get("/ok?where=checkout"),
                      http("confirm").get("/flaky?where=checkout"))))
          .pause(TAIL);

  {
    setUp(
            browse.injectOpen(rampUsers(BROWSE_USERS).during(Duration.ofSeconds(3))),
            checkout.injectOpen(
                constantUsersPerSec(CHECKOUT_RATE).during(Duration.ofSeconds(CHECKOUT_SECONDS))))
        .protocols(httpProtocol);
  }
}
