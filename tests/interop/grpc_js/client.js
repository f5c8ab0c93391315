'use strict';
// A Node.js client of the KeystoneDB protocol, built the way a Node user builds one.
//
// Run by tests/test_net_interop_grpc_js.py:
//     node client.js PROTO_FILE HOST:PORT
// It knows only protos/keystone.proto (loaded by @grpc/proto-loader), talks
// over @grpc/grpc-js, and reads the standard error details
// (grpc-status-details-bin: google.rpc.Status and ErrorInfo, decoded with
// protobufjs from google-proto-files' definitions). It prints what it saw as
// one JSON line. Before the last call it prints "ready" and waits for a line
// on stdin: the test then holds the database's writer lock, so that a Put
// with a short deadline is still waiting when its deadline passes.

const readline = require('readline');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');
const googleProtos = require('google-proto-files');

const [protoFile, address] = process.argv.slice(2);
setTimeout(() => {
  process.stderr.write('gave up after 60 s\n');
  process.exit(3);
}, 60000).unref();

const definition = protoLoader.loadSync(protoFile, {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
});
const keystone = grpc.loadPackageDefinition(definition).keystone;
const client = new keystone.KeystoneDB(address, grpc.credentials.createInsecure());

const rpc = protobuf.loadSync([
  googleProtos.getProtoPath('rpc', 'status.proto'),
  googleProtos.getProtoPath('rpc', 'error_details.proto'),
]);
const StatusProto = rpc.lookupType('google.rpc.Status');
const ErrorInfo = rpc.lookupType('google.rpc.ErrorInfo');

function call(method, request, timeoutMs = 20000) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + timeoutMs);
    client[method](request, new grpc.Metadata(), { deadline }, (err, reply) =>
      err ? reject(err) : resolve(reply),
    );
  });
}

async function failure(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('the call succeeded, but it should have failed');
}

// The google.rpc.Status of an error: its code, message and ErrorInfo details.
function details(err) {
  const [raw] = err.metadata.get('grpc-status-details-bin');
  if (!raw) return null;
  const status = StatusProto.decode(raw);
  return {
    code: status.code,
    message: status.message,
    error_info: status.details
      .filter((any) => any.type_url === 'type.googleapis.com/google.rpc.ErrorInfo')
      .map((any) => {
        const info = ErrorInfo.toObject(ErrorInfo.decode(any.value));
        return { reason: info.reason, domain: info.domain, metadata: info.metadata || {} };
      }),
  };
}

function plain(item) {
  // An Item's attributes as {name: [kind, value]}, values as text.
  const out = {};
  for (const [name, value] of Object.entries((item && item.attributes) || {})) {
    const kind = value.value;
    const v = value[kind];
    out[name] = [kind, Buffer.isBuffer(v) ? v.toString() : String(v)];
  }
  return out;
}

function waitForLine() {
  return new Promise((resolve) => {
    const lines = readline.createInterface({ input: process.stdin });
    lines.once('line', () => {
      lines.close();
      process.stdin.destroy(); // nothing more to read: let the process end
      resolve();
    });
  });
}

async function main() {
  const seen = {};
  const pk = Buffer.from('user#1');

  const put = await call('Put', {
    partition_key: pk,
    sort_key: Buffer.from('profile'),
    item: { attributes: { name: { string_value: 'Ada' }, age: { number_value: '36' } } },
  });
  seen.put_success = put.success;

  const got = await call('Get', { partition_key: pk, sort_key: Buffer.from('profile') });
  seen.get = plain(got.item);

  for (let i = 0; i < 3; i++) {
    await call('Put', {
      partition_key: pk,
      sort_key: Buffer.from(`order#${i}`),
      item: { attributes: { total: { number_value: String(i * 10) } } },
    });
  }
  const page = await call('Query', {
    partition_key: pk,
    sort_key_condition: { begins_with: { string_value: 'order#' } },
  });
  seen.query_count = page.count;
  seen.query_totals = page.items.map((item) => item.attributes.total.number_value);

  const updated = await call('Update', {
    partition_key: pk,
    sort_key: Buffer.from('profile'),
    update_expression: 'SET age = age + :one',
    expression_values: { ':one': { number_value: '1' } },
  });
  seen.update_item = plain(updated.item);
  seen.update_attributes = plain(updated.attributes);

  const condition = await failure(
    call('Put', {
      partition_key: pk,
      sort_key: Buffer.from('profile'),
      item: { attributes: {} },
      condition_expression: 'attribute_not_exists(pk)',
    }),
  );
  seen.condition_code = condition.code;
  seen.condition_details = details(condition);

  const transaction = await failure(
    call('TransactWrite', {
      items: [
        {
          condition_check: {
            partition_key: Buffer.from('nobody'),
            condition_expression: 'attribute_exists(pk)',
          },
        },
      ],
    }),
  );
  seen.transaction_code = transaction.code;
  seen.transaction_details = details(transaction);

  process.stdout.write('ready\n');
  await waitForLine();
  const late = await failure(call('Put', { partition_key: Buffer.from('late') }, 1000));
  seen.deadline_code = late.code;
  seen.deadline_code_name = grpc.status[late.code];

  client.close();
  process.stdout.write(JSON.stringify(seen) + '\n');
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
