// The official socket.io-client, as a front-end written for Evolution API uses it.
// Usage: node socketio_client.mjs <url with namespace> <options as JSON> <events to wait for>
// Prints one JSON line per happening: {"connected": id}, {"event": name, "data": envelope},
// {"connect_error": {message, data}}; exits once the events have come, or on a refusal.
import { io } from "socket.io-client";

const [url, options, count] = process.argv.slice(2);
const wanted = Number(count);
const socket = io(url, { reconnection: false, ...JSON.parse(options) });
let seen = 0;

const say = (value) => process.stdout.write(JSON.stringify(value) + "\n");
// A long-poll under way would keep Node running: leave once what was said is written.
const finish = () => {
  socket.close();
  process.stdout.write("", () => process.exit(0));
};

socket.on("connect", () => say({ connected: socket.id, transport: socket.io.engine.transport.name }));
socket.on("connect_error", (error) => {
  say({ connect_error: { message: error.message, data: error.data ?? null } });
  finish();
});
socket.onAny((event, data) => {
  say({ event, data });
  seen += 1;
  if (seen >= wanted) finish();
});
