package dev.loadtest.flushagent;

import net.bytebuddy.asm.Advice;

/**
 * Inlined into {@code LogFileDataWriter.onMessage(LoadEvent, FileData)}: the writer's buffer is
 * only touched while {@link LogFlusher}'s lock is held, and after each record the flush policy runs
 * on the writer's own thread.
 */
final class MessageAdvice {
  private MessageAdvice() {}

  @Advice.OnMethodEnter
  static void enter() {
    LogFlusher.lock();
  }

  @Advice.OnMethodExit(onThrowable = Throwable.class)
  static void exit(@Advice.Argument(1) Object fileData) {
    LogFlusher.afterRecord(fileData);
  }
}
