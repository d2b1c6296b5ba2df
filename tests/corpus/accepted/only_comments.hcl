# just a comment
// another
/* block */
