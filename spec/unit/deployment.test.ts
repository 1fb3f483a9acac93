import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { CLI } from '../support/processes.js';

const ROOT = new URL('../../../', import.meta.url);
const compose = parse(readFileSync(new URL('docker/docker-compose.yml', ROOT), 'utf8')) as {
  services: Record<
    string,
    {
      command?: string[];
      healthcheck?: { test: string[] };
      restart?: string;
      image?: string;
      build?: unknown;
      environment?: Record<string, string>;
    }
  >;
};
const dockerfile = readFileSync(new URL('docker/Dockerfile', ROOT), 'utf8');

/** The celeriac subcommands `celeriac --help` lists. */
function cliCommands(): Set<string> {
  const help = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' }).stdout;
  return new Set([...help.matchAll(/^\s+celeriac (\w+)/gm)].map((m) => m[1]));
}

/** The options `celeriac <command> --help` lists. */
function cliOptions(command: string): string {
  return spawnSync(process.execPath, [CLI, command, '--help'], { encoding: 'utf8' }).stdout;
}

describe('deployment files', () => {
  it('compose runs rabbitmq, redis, worker and beat, each with a health check and a restart policy', () => {
    assert.deepEqual(Object.keys(compose.services).sort(), ['beat', 'rabbitmq', 'redis', 'worker']);
    for (const [name, service] of Object.entries(compose.services)) {
      assert.ok(service.healthcheck?.test?.length, `${name} has no health check`);
      assert.equal(service.restart, 'unless-stopped', `${name} restart policy`);
    }
    for (const name of ['worker', 'beat']) {
      assert.equal(compose.services[name].environment?.CELERIAC_RESULT_BACKEND, 'redis://redis:6379/0');
      assert.ok(compose.services[name].build, `${name} is built from docker/Dockerfile`);
    }
  });

  it('every celeriac command the compose file and the Dockerfile run exists in the CLI, with its options', () => {
    const commands = cliCommands();
    const cmd = /CMD \[(.*)\]/
      .exec(dockerfile)![1]
      .split(',')
      .map((s) => JSON.parse(s.trim()) as string);
    // The services built from docker/Dockerfile run celeriac; rabbitmq and redis run their images' servers.
    const celeriacServices = Object.values(compose.services).filter((s) => s.build);
    const runs = [cmd, ...celeriacServices.flatMap((s) => (s.command ? [s.command] : []))];
    for (const service of celeriacServices) {
      const test = service.healthcheck?.test.join(' ') ?? '';
      const match = /celeriac\.js (\w+(?: \w+)?)(.*)$/.exec(test);
      if (match) runs.push([...match[1].split(' '), ...match[2].trim().split(/\s+/)]);
    }
    assert.ok(runs.length >= 4);
    for (const argv of runs) {
      const [command] = argv as [string];
      assert.ok(commands.has(command), `celeriac ${command} is not a CLI command (have ${[...commands].join(', ')})`);
      const help = cliOptions(command);
      for (const option of argv.filter((a) => a.startsWith('-'))) {
        const name = option.split('=')[0];
        assert.ok(
          help.includes(`${name} `) || help.includes(`${name},`) || help.includes(`${name}\n`),
          `celeriac ${command} has no option ${name}`,
        );
      }
    }
  });
});
