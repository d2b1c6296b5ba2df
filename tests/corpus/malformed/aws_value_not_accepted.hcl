resource "aws_lb" "api" {
  subnets            = ["subnet-1"]
  load_balancer_type = "netwrk"
}
