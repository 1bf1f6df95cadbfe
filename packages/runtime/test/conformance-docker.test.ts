/** The runtime conformance suite (conformance/suite.ts) on the docker runtime. */
import { runtimeConformance } from "./conformance/suite.ts";

runtimeConformance("docker");
