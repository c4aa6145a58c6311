package dev.loadtest.flushagent;

import net.bytebuddy.asm.Advice;

/**
 * Inlined into {@code LogFileDataWriter.onStop(FileData)} and {@code onCrash(String, FileData)}:
 * Gatling closes (stop) or abandons (crash) the writer there; from then on the idle flusher must
 * never touch it, and it must not flush while Gatling closes it.
 */
final class CloseAdvice {
  private CloseAdvice() {}

  @Advice.OnMethodEnter
  static void enter() {
    LogFlusher.lock();
  }

  @Advice.OnMethodExit(onThrowable = Throwable.class)
  static void exit() {
    LogFlusher.closed();
  }
}
