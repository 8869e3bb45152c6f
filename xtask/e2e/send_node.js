// Sends track and page calls through @segment/analytics-node to a serve instance, and
// writes the messageIds of the batches acknowledged with status 200 to a JSON file.
// Usage: node send_node.js HOST WRITE_KEY COUNT PREFIX OUTPUT_FILE
const fs = require('fs')
const { Analytics, FetchHTTPClient } = require('@segment/analytics-node')

const [host, writeKey, count, prefix, output] = process.argv.slice(2)
const acknowledged = []

// The SDK's own HTTP client, recording which events the server acknowledged.
class RecordingClient extends FetchHTTPClient {
  async makeRequest(options) {
    const response = await super.makeRequest(options)
    if (response.status === 200) {
      for (const event of JSON.parse(options.body).batch) acknowledged.push(event.messageId)
    }
    return response
  }
}

const analytics = new Analytics({
  writeKey,
  host,
  flushAt: 20,
  flushInterval: 200,
  // The SDK retries after short waits and, with its fetch client, does not see
  // Retry-After (seen with 2.3.0), so it needs many attempts to outlast a full spool.
  maxRetries: 100,
  httpClient: new RecordingClient(),
})
analytics.on('error', (err) => console.error(`analytics-node: ${err.code || ''} ${err.reason || err.message || err}`))

for (let i = 0; i < Number(count); i++) {
  const userId = `${prefix}-user-${i % 10}`
  const messageId = `${prefix}-${i}`
  if (i % 5 === 4) {
    analytics.page({ userId, messageId, name: 'Settings', properties: { path: '/settings', step: i } })
  } else {
    analytics.track({ userId, messageId, event: 'Report Exported', properties: { rows: i, format: 'csv' } })
  }
}

analytics.closeAndFlush({ timeout: 120000 }).then(() => {
  fs.writeFileSync(output, JSON.stringify(acknowledged))
  console.log(`analytics-node: ${acknowledged.length} of ${count} events acknowledged`)
})
