// Opens pages in headless Chromium (Debian's package, driven by playwright-core: no browser download), one browser,
// a fresh context (no shared storage) per page, and prints one report per page as a JSON list: {"result", "outside",
// "responses", "failed", "errors"}: what the page reported (window.__result), the requests to any host but the
// allowed ones (refused, so a CDN fetch shows), the HTTP answers the page got, the requests the browser failed (a
// refused CORS preflight), page errors. Input on stdin: {"urls": [...], "hosts": ["127.0.0.1:port", ...], "executablePath"}.
import { chromium } from 'playwright-core'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const { urls, hosts, executablePath } = JSON.parse(Buffer.concat(chunks).toString('utf8'))

async function open(browser, url) {
  const outside = []
  const responses = []
  const failed = []
  const errors = []
  const context = await browser.newContext()
  try {
    const page = await context.newPage()
    await page.route('**/*', (route) => {
      const target = new URL(route.request().url())
      if (hosts.includes(target.host)) return route.continue()
      outside.push(target.host)
      return route.abort()
    })
    page.on('response', (response) => {
      const request = response.request()
      responses.push({ method: request.method(), path: new URL(response.url()).pathname, status: response.status() })
    })
    page.on('requestfailed', (request) => {
      failed.push({ method: request.method(), path: new URL(request.url()).pathname, error: request.failure()?.errorText })
    })
    page.on('pageerror', (error) => errors.push(String(error)))
    await page.goto(url)
    const handle = await page.waitForFunction(() => window.__result, null, { timeout: 60000 })
    return { result: await handle.jsonValue(), outside, responses, failed, errors }
  } finally {
    await context.close()
  }
}

const browser = await chromium.launch({ executablePath, headless: true })
try {
  const reports = []
  for (const url of urls) reports.push(await open(browser, url))
  process.stdout.write(JSON.stringify(reports) + '\n')
} finally {
  await browser.close()
}
