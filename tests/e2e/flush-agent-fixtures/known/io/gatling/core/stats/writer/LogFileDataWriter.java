package io.gatling.core.stats.writer;

/**
 * Stand-in with the method shape of Gatling's LogFileDataWriter (onMessage(LoadEvent, FileData),
 * onStop(FileData), onCrash(String, FileData)). main() drives it the way Gatling's writer thread
 * does and prints what the writer saw, one line per step.
 */
public final class LogFileDataWriter {
  public void onMessage(Object event, FileData data) {
    data.writer().write();
  }

  public void onStop(FileData data) {
    data.writer().close();
  }

  public void onCrash(String cause, FileData data) {}

  public static void main(String[] args) throws Exception {
    Thread.currentThread().setName("writer");
    LogFileDataWriter w = new LogFileDataWriter();
    FileData data = new FileData();
    for (int i = 0; i < 5; i++) {
      w.onMessage("event", data);
    }
    System.out.println("burst " + data.writer().flushes);
    for (int i = 0; i < 75; i++) { // steady traffic for 1.5 s: one record every 20 ms
      Thread.sleep(20);
      w.onMessage("event", data);
    }
    System.out.println("steady " + data.writer().flushes);
    int before = data.writer().flushes.size();
    w.onMessage("event", data);
    Thread.sleep(2000); // silence: the records since the last flush wait for the idle flusher
    System.out.println("idle " + data.writer().flushes.subList(before, data.writer().flushes.size()));
    before = data.writer().flushes.size();
    w.onStop(data);
    System.out.println("stop " + data.writer().flushes.subList(before, data.writer().flushes.size()));
    Thread.sleep(1500);
    System.out.println("after-stop " + data.writer().flushes.subList(before, data.writer().flushes.size()));
    System.out.println("records " + data.writer().flushes.stream()
        .mapToInt(f -> Integer.parseInt(f.substring(f.indexOf(':') + 1))).sum());
  }
}
