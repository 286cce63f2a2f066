"""The local eventing engine: an embedded Kafka-protocol broker plus what Knative does with eventing/."""
