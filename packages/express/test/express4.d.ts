// `express4` is an npm alias of express@4.22; its API is the same for what these tests use.
declare module "express4" {
  import express from "express";
  export default express;
}
