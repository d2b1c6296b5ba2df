resource random_id 1 {
}
