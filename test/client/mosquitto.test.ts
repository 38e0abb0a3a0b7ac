/**
 * The client suite against a real mosquitto broker (skipped nowhere: mosquitto must be installed).
 */
import { startMosquitto } from '../support/mosquitto.js';
import { runClientSuite } from './suite.js';

runClientSuite('mosquitto', (options = {}) =>
  startMosquitto({
    allowAnonymous: options.allowAnonymous,
    users: options.users,
    websockets: options.websockets,
    port: options.port,
    config:
      options.maxInflightMessages === undefined
        ? []
        : [`max_inflight_messages ${options.maxInflightMessages}`],
  }),
);
