slipway {
  extends = "./base"
}
