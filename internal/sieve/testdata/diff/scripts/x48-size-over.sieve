if anyof (size :over 500, header :contains "subject" "Release") { discard; }
