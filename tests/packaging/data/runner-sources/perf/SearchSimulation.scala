package perf

import io.gatling.core.Predef._
import io.gatling.http.Predef._
import scala.concurrent.duration._

class SearchSimulation extends Simulation {
  private val protocol = http.baseUrl("http://localhost:8080")
  private val search = scenario("search").exec(http("search").get("/search?q=shoes"))
  setUp(search.inject(constantUsersPerSec(1).during(2.seconds))).protocols(protocol)
}
