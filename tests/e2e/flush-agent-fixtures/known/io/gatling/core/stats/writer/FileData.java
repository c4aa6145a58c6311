package io.gatling.core.stats.writer;

public final class FileData {
  private final BufferedFileChannelWriter writer = new BufferedFileChannelWriter();

  public BufferedFileChannelWriter writer() {
    return writer;
  }
}
