package io.gatling.core.stats.writer;

import java.util.ArrayList;
import java.util.List;

/** Stand-in with the shape of Gatling's writer (3.11-3.15): a buffer and a public flush(). */
public final class BufferedFileChannelWriter {
  public final List<String> flushes = new ArrayList<>();
  private int buffered;

  public void write() {
    buffered++;
  }

  public void flush() {
    flushes.add(Thread.currentThread().getName() + ":" + buffered);
    buffered = 0;
  }

  public void close() {
    flush();
  }
}
