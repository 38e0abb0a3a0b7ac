import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AgentRunOptions } from '../../src/bench/bench.js';
import { type MosquittoBroker, startMosquitto } from '../support/mosquitto.js';
import { type AgentProcess, ANCHOR_SLACK_MS, startThreeAgents } from './agent-fixtures.js';
import {
  keepaliveOnAgents,
  publishOnAgents,
  stressOnAgents,
  subscribeWithPublishOnAgents,
} from './agent-scenarios.js';

const TOKEN = 'starling-test-token-mosquitto';

describe('three agents against Mosquitto', { timeout: 120_000 }, () => {
  let mosquitto: MosquittoBroker;
  let agents: AgentProcess[];
  let options: AgentRunOptions;
  before(async () => {
    mosquitto = await startMosquitto();
    agents = await startThreeAgents(TOKEN);
    options = { endpoints: agents.map((agent) => agent.endpoint), token: TOKEN };
  });
  after(async () => {
    await Promise.all(agents.map((agent) => agent.stop()));
    await mosquitto.stop();
  });

  it('publish: counts are the sum of the parts, percentiles those of all samples', async () => {
    await publishOnAgents(options, mosquitto.url, 'agm-pub');
  });

  it('subscribe --publish: every subscriber on every agent gets every message', async () => {
    const result = await subscribeWithPublishOnAgents(options, mosquitto.url, 'agm-e2e');
    // Same machine, no injected offset: every estimate is near zero. Each process's clock is its monotonic
    // timer anchored at `performance.timeOrigin`, which a loaded machine can place a few ms off the wall
    // clock at start: that real disagreement is allowed on top of the estimate's own bound.
    for (const agent of result.agents ?? []) {
      assert.ok(
        Math.abs(agent.clockOffsetMs) <= agent.clockUncertaintyMs + ANCHOR_SLACK_MS,
        `${agent.name}: ${agent.clockOffsetMs} ms`,
      );
    }
  });

  it('stress: workers spread over the agents, merged like one machine', async () => {
    await stressOnAgents(options, mosquitto.url, 'agm-stress');
  });

  it('keepalive: the three agents hold their connections at once', async () => {
    await keepaliveOnAgents(options, mosquitto.url, 'agm-ka-');
  });
});
