#!/usr/bin/env node
/**
 * The `omap` command line: `omap serve` runs the platform on the configured (or embedded default)
 * settings; `omap help` lists every option with its environment variable.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { type BrokerLimits, DEFAULT_LIMITS } from '../broker/index.js';
import { type Config, ConfigError, ConfigSchema, envName, flagName, loadConfig } from './config.js';
import { startServer } from './server.js';

function usage(): string {
  const lines = [
    'Usage: omap serve [--config omap.json] [--option value ...]',
    '',
    'Options (flag, environment, default):',
  ];
  for (const [key, schema] of Object.entries(ConfigSchema.properties)) {
    const s = schema as { default?: unknown; description?: string };
    lines.push(
      `  --${flagName(key)}  ${envName(key)}  (${JSON.stringify(s.default)})  ${s.description ?? ''}`,
    );
  }
  return lines.join('\n');
}

function version(): string {
  // bin/omap.ts from source, dist/bin/omap.js when built: the package file is one or two levels up.
  for (const relative of ['../package.json', '../../package.json']) {
    try {
      const text = readFileSync(new URL(relative, import.meta.url), 'utf8');
      const pkg = JSON.parse(text) as { name?: string; version: string };
      if (pkg.name === 'omap') return pkg.version;
    } catch {
      // not at this level
    }
  }
  return 'unknown';
}

function tlsOptions(config: Config) {
  const read = (file: string, what: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ConfigError(`cannot read ${what} ${file}: ${(err as Error).message}`);
    }
  };
  return {
    port: config.mqttsPort,
    cert: read(config.tlsCert, 'tlsCert'),
    key: read(config.tlsKey, 'tlsKey'),
    ...(config.tlsCa && { ca: read(config.tlsCa, 'tlsCa') }),
    ...(config.tlsRequestClientCert && { requestCert: true, rejectUnauthorized: true }),
  };
}

async function serve(config: Config): Promise<void> {
  const logger = pino({ level: config.logLevel, base: { service: 'omap' } });
  const limits: Partial<BrokerLimits> = {};
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof BrokerLimits)[]) {
    if (key in config) (limits as Record<string, unknown>)[key] = config[key as keyof Config];
  }
  const server = await startServer({
    host: config.host,
    mqttPort: config.mqttPort,
    mqtts: config.tlsCert && config.tlsKey ? tlsOptions(config) : false,
    httpPort: config.httpPort,
    maxHttpBodyBytes: config.maxHttpBodyBytes,
    coapPort: config.coapPort,
    limits,
    auth: config.auth,
    dataDir: config.dataDir,
    databaseUrl: config.databaseUrl,
    questdb: config.questdb,
    storeMessages: config.storeMessages,
    metrics: config.metrics,
    admin:
      config.adminEmail && config.adminPassword
        ? { email: config.adminEmail, password: config.adminPassword }
        : undefined,
    oauth: {
      clientsDir: config.oauthClientsDir,
      pollIntervalMs: config.oauthPollIntervalMs,
      publicUrl: config.publicUrl,
    },
    logger,
    version: version(),
  });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    server.close().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

async function main(argv: string[]): Promise<void> {
  const [command = 'serve', ...rest] = argv[0]?.startsWith('-') ? ['serve', ...argv] : argv;
  if (command === 'help' || rest.includes('--help') || command === '--help') {
    console.log(usage());
    return;
  }
  if (command === 'version' || command === '--version') {
    console.log(version());
    return;
  }
  if (command !== 'serve') throw new ConfigError(`unknown command "${command}"\n\n${usage()}`);
  const options: Record<string, { type: 'string' }> = { config: { type: 'string' } };
  for (const key of Object.keys(ConfigSchema.properties)) options[flagName(key)] = { type: 'string' };
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; args: string[]; strict: true }>>;
  try {
    parsed = parseArgs({ args: rest, options, strict: true });
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const { config: file, ...flags } = parsed.values as Record<string, string | undefined>;
  const cleanFlags = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) as Record<
    string,
    string
  >;
  const config = loadConfig({ ...(file !== undefined && { file }), env: process.env, flags: cleanFlags });
  await serve(config);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    console.error(`omap: ${err.message}`);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
});
