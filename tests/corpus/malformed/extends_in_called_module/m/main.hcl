slipway {
  extends = "../base"
}
