import assert from "node:assert/strict";
import { test } from "node:test";
import { APIError, describeFailure } from "../src/lib/api";

test("a call the token's scope does not allow says so, in the server's words", () => {
  const denied = new APIError(403, "PERMISSION_DENIED", "SubmitJob needs scope submit; token 'viewer' has scope read");
  assert.equal(denied.forbidden, true);
  assert.equal(denied.unauthorized, false);
  assert.equal(
    describeFailure(denied),
    "Not allowed with this token: SubmitJob needs scope submit; token 'viewer' has scope read",
  );
  assert.equal(describeFailure(new APIError(404, "NOT_FOUND", "job j-1 not found")), "NOT_FOUND: job j-1 not found");
  assert.equal(describeFailure(new Error("boom")), "boom");
});
