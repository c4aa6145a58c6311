package perf

import io.gatling.javaapi.core.CoreDsl.constantUsersPerSec
import io.gatling.javaapi.core.CoreDsl.scenario
import io.gatling.javaapi.core.Simulation
import io.gatling.javaapi.http.HttpDsl.http
import java.time.Duration

class BrowseSimulation : Simulation() {
  private val protocol = http.baseUrl("http://localhost:8080")
  private val browse = scenario("browse").exec(http("home").get("/"))

  init {
    setUp(browse.injectOpen(constantUsersPerSec(1.0).during(Duration.ofSeconds(2)))).protocols(protocol)
  }
}
