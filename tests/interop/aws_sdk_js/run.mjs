// The DynamoDB endpoint through the AWS SDK for JavaScript v3: node run.mjs URL
// Prints one JSON line with what each call returned (the pytest test checks it).
import {
  DynamoDBClient, PutItemCommand, GetItemCommand, QueryCommand, UpdateItemCommand,
  TransactWriteItemsCommand, DescribeTableCommand,
} from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand, GetCommand } from "@aws-sdk/lib-dynamodb";

const url = process.argv[2];
const client = new DynamoDBClient({
  endpoint: url, region: "us-east-1", maxAttempts: 1,
  credentials: { accessKeyId: "AKIDJS", secretAccessKey: "secret" },
});
const doc = DynamoDBDocumentClient.from(client);
const out = {};
await client.send(new PutItemCommand({ TableName: "jsitems", Item: { pk: { S: "js" }, sk: { S: "1" }, n: { N: "41" } } }));
const up = await client.send(new UpdateItemCommand({
  TableName: "jsitems", Key: { pk: { S: "js" }, sk: { S: "1" } },
  UpdateExpression: "ADD n :one", ExpressionAttributeValues: { ":one": { N: "1" } }, ReturnValues: "ALL_NEW",
}));
out.updated = up.Attributes.n.N;
const got = await client.send(new GetItemCommand({ TableName: "jsitems", Key: { pk: { S: "js" }, sk: { S: "1" } } }));
out.get = got.Item;
await doc.send(new PutCommand({ TableName: "jsitems", Item: { pk: "js", sk: "2", tags: new Set(["a", "b"]), nested: { x: [1, 2] } } }));
const d = await doc.send(new GetCommand({ TableName: "jsitems", Key: { pk: "js", sk: "2" } }));
out.doc = { tags: [...d.Item.tags].sort(), nested: d.Item.nested };
const q = await client.send(new QueryCommand({
  TableName: "jsitems", KeyConditionExpression: "pk = :p", ExpressionAttributeValues: { ":p": { S: "js" } },
}));
out.query = q.Items.map((i) => i.sk.S);
try {
  await client.send(new PutItemCommand({
    TableName: "jsitems", Item: { pk: { S: "js" }, sk: { S: "1" } }, ConditionExpression: "attribute_not_exists(pk)",
  }));
  out.condition = "no error";
} catch (err) {
  out.condition = err.name;
}
try {
  await client.send(new TransactWriteItemsCommand({ TransactItems: [
    { ConditionCheck: { TableName: "jsitems", Key: { pk: { S: "js" }, sk: { S: "1" } },
      ConditionExpression: "n = :zero", ExpressionAttributeValues: { ":zero": { N: "0" } } } },
  ] }));
  out.transaction = "no error";
} catch (err) {
  out.transaction = { name: err.name, reasons: (err.CancellationReasons || []).map((r) => r.Code) };
}
try {
  await client.send(new GetItemCommand({ TableName: "x", Key: { pk: { S: "js" } } }));
} catch (err) {
  out.validation = err.name;
}
out.table = (await client.send(new DescribeTableCommand({ TableName: "jsitems" }))).Table.TableStatus;
console.log(JSON.stringify(out));
