package io.gatling.core.stats.writer;

/** A writer of a shape the agent does not know (a future Gatling): must stay untouched. */
public final class LogFileDataWriter {
  private int records;

  public void onMessage(Object event) {
    records++;
  }

  public static void main(String[] args) {
    LogFileDataWriter w = new LogFileDataWriter();
    for (int i = 0; i < 3; i++) {
      w.onMessage("event");
    }
    System.out.println("records " + w.records);
  }
}
