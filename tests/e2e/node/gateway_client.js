#!/usr/bin/env node
// hie-gateway driven by an independent gRPC implementation: Node's @grpc/grpc-js with the
// repository's .proto files loaded at run time (@grpc/proto-loader), over mutual TLS.
//
// Run by e2e_gateway_test (NodeClientChecksTheContract) once the hub and its members are up
// (gateway_test.cc: Ann is a-ann at clinic-a; clinic-b answers, clinic-d hangs, clinic-e
// black-holes):
//
//   node gateway_client.js --target 127.0.0.1:PORT --certs DIR --proto-dir PROTO
//                          --modules NODE_MODULES
//
// Checks: GetCallerInfo names the certificate's org; a federated query streams one result per
// member then the summary last (partial, a row per member); a document retrieved with its
// header's size and SHA-256; an operator certificate PERMISSION_DENIED; a missing purpose
// INVALID_ARGUMENT naming the field; clinic-a publishing for clinic-b PERMISSION_DENIED; the
// staff APIs: OperatorGateway.Resolve with the operator certificate answers Ann's person (her
// clinic-a record among its cross references), AdminGateway.VerifyAuditLog with the privacy
// officer's (auditor) certificate answers STATUS_VALID (both with purpose SYSTEM_ADMINISTRATION).
// Exit status 0 when every check passes; each failure is printed.

'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

function flag(name) {
  const i = process.argv.indexOf('--' + name);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error('--' + name + ' is required');
  return process.argv[i + 1];
}

const modules = flag('modules');
const grpc = require(path.join(modules, '@grpc/grpc-js'));
const protoLoader = require(path.join(modules, '@grpc/proto-loader'));
const protoDir = flag('proto-dir');
const certs = flag('certs');
const target = flag('target');

const definition = protoLoader.loadSync(
  [path.join(protoDir, 'hie/gateway/v1/gateway.proto')],
  {keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
   includeDirs: [protoDir, '/usr/include']});
const hie = grpc.loadPackageDefinition(definition).hie;

function gateway(cert, service) {
  const credentials = grpc.credentials.createSsl(
    fs.readFileSync(path.join(certs, 'ca.pem')),
    fs.readFileSync(path.join(certs, cert + '.key')),
    fs.readFileSync(path.join(certs, cert + '.pem')));
  return new hie.gateway.v1[service || 'MemberGateway'](
    target, credentials, {'grpc.ssl_target_name_override': 'localhost'});
}

function deadline(seconds) {
  return {deadline: new Date(Date.now() + seconds * 1000)};
}

function clinician(purpose) {
  return {purpose_of_use: purpose || 'PURPOSE_OF_USE_TREATMENT', user_id: 'dr-node',
          user_role: 'ROLE_CLINICIAN', request_id: 'node-' + crypto.randomUUID()};
}

function staff() {
  return {purpose_of_use: 'PURPOSE_OF_USE_SYSTEM_ADMINISTRATION',
          request_id: 'node-' + crypto.randomUUID()};
}

function unary(client, method, request) {
  return new Promise((resolve) => {
    client[method](request, deadline(10), (error, response) => resolve({error, response}));
  });
}

function stream(client, method, request, seconds) {
  return new Promise((resolve) => {
    const messages = [];
    const call = client[method](request, deadline(seconds));
    call.on('data', (m) => messages.push(m));
    call.on('error', (error) => resolve({error, messages}));
    call.on('end', () => resolve({error: null, messages}));
  });
}

const failures = [];
function check(condition, what) {
  if (!condition) failures.push(what);
  console.log((condition ? 'ok    ' : 'FAILED') + ' ' + what);
}

async function main() {
  const clinicA = gateway('clinic-a');

  const info = await unary(clinicA, 'GetCallerInfo', {});
  check(!info.error && info.response.org === 'clinic-a', 'GetCallerInfo names the certificate org');

  const find = await stream(clinicA, 'FindOutsideRecords',
                            {context: clinician(), local_id: 'a-ann'}, 2);
  check(!find.error, 'FindOutsideRecords ends OK' + (find.error ? ': ' + find.error.details : ''));
  const last = find.messages[find.messages.length - 1] || {};
  check(last.result === 'summary', 'the summary is the last message');
  const results = {};
  for (const m of find.messages.slice(0, -1)) results[m.member_result.member_org] = m.member_result;
  check(Object.keys(results).length === 4, 'one result per member holding data (b, c, d, e)');
  check(results['clinic-b'] && results['clinic-b'].status === 'MEMBER_STATUS_OK' &&
        results['clinic-b'].entries.length === 2, 'clinic-b answers with Ann\'s two notes' +
        (results['clinic-b'] ? ' (' + results['clinic-b'].status + ', ' +
         results['clinic-b'].entries.length + ' entries, ' + results['clinic-b'].detail + ')' : ''));
  for (const dead of ['clinic-d', 'clinic-e']) {
    const s = results[dead] && results[dead].status;
    check(s === 'MEMBER_STATUS_TIMEOUT' || s === 'MEMBER_STATUS_CIRCUIT_OPEN',
          dead + ' is reported as not answering (' + s + ')');
  }
  if (last.summary) {
    check(last.summary.partial === true, 'the summary says the answer is partial');
    check(last.summary.members.length === 4, 'the summary has a row per member');
  }

  const retrieved = await stream(clinicA, 'RetrieveDocument',
                                 {context: clinician(), local_id: 'a-ann', member_org: 'clinic-b',
                                  retrieve_key: 'clinic-b-note-2'}, 10);
  check(!retrieved.error, 'RetrieveDocument ends OK' +
        (retrieved.error ? ': ' + retrieved.error.details : ''));
  const header = retrieved.messages.length > 0 ? retrieved.messages[0].header : null;
  check(header != null, 'the header comes first');
  const content = Buffer.concat(retrieved.messages.slice(1).map((m) => m.chunk));
  if (header) {
    check(String(content.length) === String(header.size_bytes), 'the size is the header\'s');
    check(crypto.createHash('sha256').update(content).digest().equals(header.hash.digest),
          'the SHA-256 is the header\'s');
  }

  const operator = await stream(gateway('operator'), 'FindOutsideRecords',
                                {context: clinician(), local_id: 'a-ann'}, 5);
  check(operator.error && operator.error.code === grpc.status.PERMISSION_DENIED &&
        operator.messages.length === 0, 'an operator certificate reads nothing');

  const noPurpose = clinician();
  noPurpose.purpose_of_use = 'PURPOSE_OF_USE_UNSPECIFIED';
  const bad = await stream(clinicA, 'FindOutsideRecords', {context: noPurpose, local_id: 'a-ann'},
                           5);
  check(bad.error && bad.error.code === grpc.status.INVALID_ARGUMENT &&
        bad.error.details.includes('context.purpose_of_use'),
        'a missing purpose is INVALID_ARGUMENT naming the field');

  const publish = await unary(clinicA, 'PublishDocuments', {
    context: {purpose_of_use: 'PURPOSE_OF_USE_OPERATIONS', user_role: 'ROLE_MEMBER_SYSTEM'},
    idempotency_key: 'node-as-b', entries: [{patient: {org: 'clinic-b', local_id: 'b-ann'}}]});
  check(publish.error && publish.error.code === grpc.status.PERMISSION_DENIED,
        'clinic-a cannot publish for clinic-b');

  // HIE staff through the gateway's OperatorGateway and AdminGateway.
  const resolved = await unary(gateway('operator', 'OperatorGateway'), 'Resolve',
                               {context: staff(), source_id: {org: 'clinic-a', local_id: 'a-ann'}});
  check(!resolved.error && resolved.response.person_id !== '' &&
        resolved.response.cross_references.some(
          (x) => x.source_id.org === 'clinic-a' && x.source_id.local_id === 'a-ann'),
        'the operator resolves Ann\'s record to her person' +
        (resolved.error ? ': ' + resolved.error.details : ''));

  const verified = await unary(gateway('auditor', 'AdminGateway'), 'VerifyAuditLog',
                               {context: staff()});
  check(!verified.error && verified.response.status === 'STATUS_VALID' &&
        Number(verified.response.events_checked) > 0,
        'the privacy officer verifies the audit log: valid' +
        (verified.error ? ': ' + verified.error.details
                        : ' (' + verified.response.status + ', ' +
                          verified.response.events_checked + ' events)'));

  if (failures.length > 0) {
    console.log(failures.length + ' check(s) failed');
    process.exit(1);
  }
  console.log('all checks passed');
  process.exit(0);
}

main().catch((e) => {
  console.log('FAILED: ' + e.stack);
  process.exit(1);
});
