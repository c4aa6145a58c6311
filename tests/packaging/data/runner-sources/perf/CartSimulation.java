package perf;

/** Java beside Scala and Kotlin: it uses a Kotlin class (compiled first) and the added dependency. */
public class CartSimulation {
  Class<?> other = BrowseSimulation.class;
  Class<?> driver = org.h2.Driver.class;
}
