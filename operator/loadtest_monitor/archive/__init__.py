"""The S3 archive of a monitor's data: portable InfluxDB backup + dashboards, the sidecar that makes them."""
