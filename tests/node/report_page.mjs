// Opens the HTML report in headless Chromium (Debian's package, driven by playwright-core), as a business user
// would, and prints one JSON object: {"numbers", "errors", "outside", "title", "screenshot"}: every element with a
// data-count (its id, class and data-* attributes), the console errors and page errors, the requests to any host
// but the allowed ones (refused: the report must need none), the page's title, and where the full-page PNG was
// saved. Input on stdin: {"url", "hosts": ["127.0.0.1:port"], "executablePath", "screenshot"}, and optionally the
// viewport's "width" and "height", "scale" (device pixels per CSS pixel) and "fullPage" (false: the viewport only).
// JavaScript is off: the report must read without it.
import { chromium } from 'playwright-core'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'))
const { url, hosts = [], executablePath, screenshot, width = 1100, height = 900, fullPage = true, scale = 1 } = input

const browser = await chromium.launch({ executablePath, headless: true })
try {
  const context = await browser.newContext({ viewport: { width, height }, deviceScaleFactor: scale, javaScriptEnabled: false })
  const page = await context.newPage()
  const errors = []
  const outside = []
  page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()) })
  page.on('pageerror', (error) => errors.push(String(error)))
  await page.route('**/*', (route) => {
    const target = new URL(route.request().url())
    if (target.protocol === 'file:' || target.protocol === 'data:' || hosts.includes(target.host)) return route.continue()
    outside.push(target.href)
    return route.abort()
  })
  const answer = await page.goto(url, { waitUntil: 'load' })
  const numbers = await page.$$eval('[data-count]', (elements) => elements.map((element) => ({
    id: element.id,
    class: element.getAttribute('class') || '',
    data: { ...element.dataset },
    text: element.textContent.trim().slice(0, 200),
  })))
  if (screenshot) await page.screenshot({ path: screenshot, fullPage })
  const report = { status: answer ? answer.status() : null, title: await page.title(), numbers, errors, outside, screenshot }
  process.stdout.write(JSON.stringify(report) + '\n')
  await context.close()
} finally {
  await browser.close()
}
