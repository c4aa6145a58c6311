package dev.loadtest.flushagent;

import static net.bytebuddy.matcher.ElementMatchers.named;
import static net.bytebuddy.matcher.ElementMatchers.takesArgument;
import static net.bytebuddy.matcher.ElementMatchers.takesArguments;

import java.lang.instrument.Instrumentation;
import net.bytebuddy.agent.builder.AgentBuilder;
import net.bytebuddy.asm.Advice;
import net.bytebuddy.description.method.MethodDescription;
import net.bytebuddy.description.type.TypeDescription;
import net.bytebuddy.dynamic.DynamicType;
import net.bytebuddy.matcher.ElementMatcher;
import net.bytebuddy.utility.JavaModule;

/**
 * Entry point of the log-flush agent: {@code -javaagent:log-flush-agent.jar[=maxAgeMillis=1000]}.
 *
 * <p>Gatling's {@code LogFileDataWriter} (every release from 3.11 to 3.15 has the same shape:
 * {@code onMessage(LoadEvent, FileData)}, {@code onStop(FileData)}, {@code onCrash(String,
 * FileData)}, {@code FileData.writer()} returning a {@code BufferedFileChannelWriter} with a public
 * {@code flush()}) keeps simulation.log records in an 8 KiB buffer until it is full. The agent adds
 * advice to those methods so the buffer reaches the file at most {@code maxAgeMillis} after a record
 * was written; {@link LogFlusher} holds the policy.
 *
 * <p>Never breaks a run: a Gatling whose writer has another shape is left untouched, with one line
 * on stderr saying so; any error inside the agent disables it and is reported the same way.
 */
public final class FlushAgent {
  static final String LOG_WRITER = "io.gatling.core.stats.writer.LogFileDataWriter";
  static final String FILE_DATA = "io.gatling.core.stats.writer.FileData";

  private FlushAgent() {}

  public static void premain(String arguments, Instrumentation instrumentation) {
    try {
      long maxAgeMillis = AgentArguments.maxAgeMillis(arguments);
      LogFlusher.configure(maxAgeMillis);
      new AgentBuilder.Default()
          .disableClassFormatChanges()
          .with(new FailureListener())
          .type(named(LOG_WRITER))
          .transform(FlushAgent::instrument)
          .installOn(instrumentation);
      LogFlusher.log("installed (flushes simulation.log at most " + maxAgeMillis + " ms after a record)");
    } catch (Throwable t) {
      LogFlusher.log("disabled, Gatling runs unchanged: " + t);
    }
  }

  private static DynamicType.Builder<?> instrument(
      DynamicType.Builder<?> builder,
      TypeDescription type,
      ClassLoader loader,
      JavaModule module,
      java.security.ProtectionDomain domain) {
    ElementMatcher.Junction<MethodDescription> onMessage =
        named("onMessage").and(takesArguments(2)).and(takesArgument(1, named(FILE_DATA)));
    ElementMatcher.Junction<MethodDescription> onStop =
        named("onStop").and(takesArguments(1)).and(takesArgument(0, named(FILE_DATA)));
    ElementMatcher.Junction<MethodDescription> onCrash =
        named("onCrash").and(takesArguments(2)).and(takesArgument(1, named(FILE_DATA)));
    boolean known =
        !type.getDeclaredMethods().filter(onMessage).isEmpty()
            && !type.getDeclaredMethods().filter(onStop).isEmpty();
    if (!known) {
      LogFlusher.log("unknown shape of " + LOG_WRITER + " (no onMessage/onStop taking FileData): "
          + "not instrumented, simulation.log is written as Gatling does (8 KiB bursts)");
      return builder;
    }
    return builder
        .visit(Advice.to(MessageAdvice.class).on(onMessage))
        .visit(Advice.to(CloseAdvice.class).on(onStop.or(onCrash)));
  }

  /** Reports a transformation error instead of letting ByteBuddy swallow it silently. */
  private static final class FailureListener extends AgentBuilder.Listener.Adapter {
    @Override
    public void onError(String typeName, ClassLoader loader, JavaModule module, boolean loaded, Throwable error) {
      LogFlusher.log("could not instrument " + typeName + ", Gatling runs unchanged: " + error);
    }
  }
}
