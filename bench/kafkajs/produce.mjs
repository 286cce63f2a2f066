// Produce records with KafkaJS, as an upstream service would: plain JSON values, no CloudEvents headers.
// Usage: node produce.mjs BOOTSTRAP TOPIC < records.jsonl
// Each stdin line is {"key": string|null, "value": object|string}; it is sent as soon as it is read
// (lines arriving together go in one request). Prints {"produced": N} when stdin ends and all are acknowledged.
// Idempotence stays off: the embedded broker (Tansu 0.6) refuses InitProducerId.
import readline from "node:readline";
import { Kafka, logLevel } from "kafkajs";

const [bootstrap, topic] = process.argv.slice(2);
if (!bootstrap || !topic) {
  console.error("usage: node produce.mjs BOOTSTRAP TOPIC < records.jsonl");
  process.exit(2);
}
const kafka = new Kafka({ clientId: "upstream-kafkajs", brokers: bootstrap.split(","), logLevel: logLevel.WARN });
const producer = kafka.producer({ idempotent: false, allowAutoTopicCreation: false });
await producer.connect();

let pending = [];
let produced = 0;
let inFlight = Promise.resolve();

function flush() {
  if (pending.length === 0) return;
  const messages = pending;
  pending = [];
  inFlight = inFlight.then(async () => {
    await producer.send({ topic, acks: -1, messages });
    produced += messages.length;
  });
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", (line) => {
  if (!line.trim()) return;
  const record = JSON.parse(line);
  const value = typeof record.value === "string" ? record.value : JSON.stringify(record.value);
  pending.push({ key: record.key ?? null, value, headers: { "content-type": "application/json" } });
  setImmediate(flush);
});
await new Promise((resolve) => lines.on("close", resolve));
flush();
await inFlight;
await producer.disconnect();
console.log(JSON.stringify({ produced }));
