// Starts the real `switchyard-router` binary for the demo-page test: the quickstart policy
// (manifests/examples/quickstart.yaml, intent routing with the built-in MiniLM classifier)
// plus a learned `auto` policy over two of its endpoints, every endpoint pointing at a fake
// upstream. The router listens on 127.0.0.1 port 0; its JSON log says which port it got.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The key the router must send upstream (the client's own Authorization is never forwarded). */
export const UPSTREAM_KEY = 'sk-fake-upstream-for-ui-test';

const AUTO_POLICY = `---
apiVersion: switchyard.dev/v1alpha1
kind: RoutingPolicy
metadata:
  name: learned
spec:
  strategy: auto
  auto:
    candidates:
      - endpoint: llama-3.1-70b
        headOutput: gpt-4-1106-preview
      - endpoint: llama-3.1-8b
        headOutput: mistralai/Mixtral-8x7B-Instruct-v0.1
`;

/** The manifest: the quickstart with every baseURL replaced by `upstreamUrl`, plus `learned`. */
export async function manifest(upstreamUrl) {
  const quickstart = await readFile(join(REPO, 'manifests/examples/quickstart.yaml'), 'utf8');
  const replaced = quickstart.replaceAll('https://integrate.api.nvidia.com/v1', upstreamUrl);
  if (replaced === quickstart) throw new Error('quickstart.yaml no longer names the NVIDIA base URL; update tests/router.mjs');
  return replaced + AUTO_POLICY;
}

/** Resolves when `check()` is true, polling every 50 ms; rejects after `ms` with `what`. */
async function waitFor(check, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Spawns `bin serve` over the manifest and waits until `/readyz` answers 200.
 * Resolves to `{url, log, close()}` (`log`: every line the router printed).
 */
export async function startRouter({ bin, upstreamUrl, models = process.env.SWITCHYARD_MODELS || join(REPO, 'models') }) {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-ui-router-'));
  const file = join(dir, 'switchyard.yaml');
  await writeFile(file, await manifest(upstreamUrl));
  const child = spawn(bin, [
    '--log-format', 'json', 'serve', '-f', file, '--listen', '127.0.0.1:0', '--no-watch', '--models', models,
  ], {
    env: { ...process.env, NVIDIA_API_KEY: UPSTREAM_KEY, RUST_LOG: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = [];
  let addr = null;
  let exited = null;
  const onData = (buf) => {
    for (const line of buf.toString('utf8').split('\n').filter(Boolean)) {
      log.push(line);
      try {
        const rec = JSON.parse(line);
        if (rec.message === 'serving' && rec.addr) addr = rec.addr;
      } catch {
        // Not JSON (a panic message): kept in the log.
      }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exit = new Promise((resolve) => child.on('exit', (code, signal) => {
    exited = { code, signal };
    resolve(exited);
  }));
  const close = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(() => addr || exited, 120_000, 'the router to listen');
    if (!addr) throw new Error(`the router exited (${JSON.stringify(exited)}):\n${log.join('\n')}`);
    const url = `http://${addr}`;
    await waitFor(async () => {
      if (exited) throw new Error(`the router exited (${JSON.stringify(exited)}):\n${log.join('\n')}`);
      const r = await fetch(`${url}/readyz`).catch(() => null);
      return r?.status === 200;
    }, 120_000, `${url}/readyz`);
    return { url, log, close };
  } catch (err) {
    await close();
    throw err;
  }
}
