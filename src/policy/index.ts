/** The policy engine: ODRL 2.2 (DSP 2025-1 compact JSON) validation and evaluation. Pure, no I/O. */
export * from './types';
export { validatePolicy, MAX_CONSTRAINT_DEPTH } from './validate';
export { compilePolicy, evaluate, CompiledPolicy } from './engine';
export { LEFT_OPERANDS, findLeftOperand, type LeftOperandDef } from './left-operands';
export { normalizeRightOperands } from './normalize';
export { ACTIONS, OPERATORS, findAction, findOperator, type ActionDef } from './vocabulary';
export { EU_MEMBERS, REGIONS, resolveRegion } from './regions';
