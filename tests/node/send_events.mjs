// Sends the calls given on stdin with @segment/analytics-node, as a channel's Node service would, then prints
// {"errors": [...]} (what the SDK reported) on stdout. Input: {"host", "path", "writeKey", "calls": [[method, params]]}.
import { Analytics } from '@segment/analytics-node'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const { host, path, writeKey, calls } = JSON.parse(Buffer.concat(chunks).toString('utf8'))

const analytics = new Analytics({ writeKey, host, path, maxRetries: 1, flushInterval: 200 })
const errors = []
analytics.on('error', (error) => {
  errors.push({ code: error.code ?? null, reason: String(error.reason ?? error.message ?? error) })
})
const statuses = []
analytics.on('http_request', () => {})
analytics.on('http_response', (response) => statuses.push(response.status ?? null))

for (const [method, params] of calls) analytics[method](params)
await analytics.closeAndFlush({ timeout: 30000 })
process.stdout.write(JSON.stringify({ errors, statuses }) + '\n')
