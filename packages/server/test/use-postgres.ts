// Imported first by store-postgres-rest.test.ts: from here on, helpers.startTestServer gives
// every server a fresh PostgreSQL database (see testDatabaseUrl in helpers.ts).
process.env.ROOMSERVICE_TEST_POSTGRES = "1";
