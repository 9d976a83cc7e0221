// Opens a page in headless Chromium (Debian's package, driven by playwright-core: no browser download) and prints
// {"result", "outside", "responses", "failed", "errors"} as JSON: what the page reported (window.__result), the
// requests to any host but the allowed ones (refused, so a CDN fetch shows), the HTTP answers the page got, the
// requests the browser failed (a refused CORS preflight), page errors.
// Input on stdin: {"url", "hosts": ["127.0.0.1:port", ...], "executablePath"}.
import { chromium } from 'playwright-core'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const { url, hosts, executablePath } = JSON.parse(Buffer.concat(chunks).toString('utf8'))

const browser = await chromium.launch({ executablePath, headless: true })
const outside = []
const responses = []
const failed = []
const errors = []
try {
  const page = await browser.newPage()
  await page.route('**/*', (route) => {
    const target = new URL(route.request().url())
    if (hosts.includes(target.host)) return route.continue()
    outside.push(target.host)
    return route.abort()
  })
  page.on('response', (response) => {
    responses.push({ method: response.request().method(), path: new URL(response.url()).pathname, status: response.status() })
  })
  page.on('requestfailed', (request) => {
    failed.push({ method: request.method(), path: new URL(request.url()).pathname, error: request.failure()?.errorText })
  })
  page.on('pageerror', (error) => errors.push(String(error)))
  await page.goto(url)
  const handle = await page.waitForFunction(() => window.__result, null, { timeout: 60000 })
  const result = await handle.jsonValue()
  process.stdout.write(JSON.stringify({ result, outside, responses, failed, errors }) + '\n')
} finally {
  await browser.close()
}
