/** The runtime conformance suite (conformance/suite.ts) on the sandbox runtime. */
import { runtimeConformance } from "./conformance/suite.ts";

runtimeConformance("sandbox");
