export * as CodecError from "./CodecError.ts"
