package dev.loadtest.flushagent;

import java.lang.reflect.Method;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The flush policy for Gatling's simulation.log buffer. Public because the advice is inlined into
 * Gatling's class and calls it from there.
 *
 * <p>Two triggers, both under one lock that also covers every call of Gatling's writer methods that
 * the agent instruments (onMessage, onStop, onCrash), so the buffer is never used by two threads at
 * once:
 *
 * <ul>
 *   <li>after a record, on the writer's own thread: flush when the last flush is at least
 *       {@code maxAge} old. Under steady traffic this alone keeps the file at most about
 *       {@code maxAge} behind;
 *   <li>when records stop (a pause in the load, the quiet end of a run), the message-driven trigger
 *       never fires again and the last records would sit in the buffer until the next one or the end
 *       of the run. A daemon thread checks every {@code maxAge / 4}: if records are waiting, the last
 *       flush is at least {@code maxAge} old, no record came for one check period (silence), and the
 *       writer thread is not inside a writer method ({@code tryLock}), it flushes. It never waits for
 *       the lock, so it never slows Gatling down. So a record reaches the file at most about
 *       {@code maxAge + maxAge / 4} after it was written, whether traffic goes on or stops.
 * </ul>
 */
public final class LogFlusher {
  private static final ReentrantLock LOCK = new ReentrantLock();
  private static volatile long maxAgeNanos = TimeUnit.MILLISECONDS.toNanos(AgentArguments.DEFAULT_MAX_AGE_MILLIS);

  // Guarded by LOCK.
  private static Object writer;
  private static Method flush;
  private static long lastFlushNanos;
  private static long lastRecordNanos;
  private static boolean pending;
  private static boolean closed;
  private static boolean disabled;
  private static long flushes;

  private LogFlusher() {}

  static void configure(long maxAgeMillis) {
    maxAgeNanos = TimeUnit.MILLISECONDS.toNanos(maxAgeMillis);
  }

  public static void lock() {
    LOCK.lock();
  }

  /** After Gatling wrote one record into its buffer (writer thread, lock held; releases it). */
  public static void afterRecord(Object fileData) {
    try {
      if (disabled || closed) {
        return;
      }
      if (writer == null) {
        bind(fileData);
        if (disabled) {
          return;
        }
      }
      pending = true;
      lastRecordNanos = System.nanoTime();
      if (lastRecordNanos - lastFlushNanos >= maxAgeNanos) {
        flushNow();
      }
    } catch (Throwable t) {
      disable("flushing failed", t);
    } finally {
      LOCK.unlock();
    }
  }

  /** After Gatling closed or abandoned the writer (lock held; releases it). */
  public static void closed() {
    try {
      if (writer != null && !closed) {
        log("writer closed after " + flushes + " timed flushes");
      }
      closed = true;
    } finally {
      LOCK.unlock();
    }
  }

  /** One check of the idle flusher thread. */
  static void idleCheck() {
    if (!LOCK.tryLock()) {
      return; // the writer thread is in a writer method: it runs the policy itself
    }
    try {
      long now = System.nanoTime();
      // Only in silence: while records keep coming, the writer thread flushes them itself.
      if (!disabled && !closed && pending && now - lastFlushNanos >= maxAgeNanos
          && now - lastRecordNanos >= quietNanos()) {
        flushNow();
      }
    } catch (Throwable t) {
      disable("idle flush failed", t);
    } finally {
      LOCK.unlock();
    }
  }

  /** How long without a record counts as silence: one check period of the idle flusher. */
  private static long quietNanos() {
    return Math.max(TimeUnit.MILLISECONDS.toNanos(25), maxAgeNanos / 4);
  }

  private static void bind(Object fileData) {
    try {
      Method writerAccessor = fileData.getClass().getMethod("writer");
      Object candidate = writerAccessor.invoke(fileData);
      Method flushMethod = candidate.getClass().getMethod("flush");
      if (flushMethod.getParameterCount() != 0) {
        throw new NoSuchMethodException(candidate.getClass().getName() + ".flush()");
      }
      writer = candidate;
      flush = flushMethod;
      lastFlushNanos = System.nanoTime();
      startIdleFlusher();
    } catch (ReflectiveOperationException | RuntimeException e) {
      disable("unknown shape of " + fileData.getClass().getName()
          + " (expected writer().flush()), simulation.log is written as Gatling does", e);
    }
  }

  private static void flushNow() throws ReflectiveOperationException {
    flush.invoke(writer);
    lastFlushNanos = System.nanoTime();
    pending = false;
    flushes++;
  }

  private static void startIdleFlusher() {
    long periodNanos = quietNanos();
    Thread thread = new Thread(() -> {
      while (true) {
        try {
          TimeUnit.NANOSECONDS.sleep(periodNanos);
        } catch (InterruptedException e) {
          return;
        }
        idleCheck();
        if (closed || disabled) {
          return; // read without the lock: at worst one more harmless check
        }
      }
    }, "loadtest-monitor-log-flush");
    thread.setDaemon(true);
    thread.start();
  }

  private static void disable(String why, Throwable cause) {
    disabled = true;
    Throwable root = cause instanceof java.lang.reflect.InvocationTargetException && cause.getCause() != null
        ? cause.getCause() : cause;
    log("disabled (" + why + "): " + root);
  }

  static void log(String message) {
    System.err.println("[log-flush-agent] " + message);
  }
}
