/** The runtime conformance suite (conformance/suite.ts) on the kubernetes runtime. */
import { runtimeConformance } from "./conformance/suite.ts";

runtimeConformance("kubernetes");
