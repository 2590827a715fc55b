require ["variables","fileinto"];
set :length "len" "abcdef";
if string :is "${len}" "6" { fileinto "len6"; }
set :quotewildcard "q" "a*b";
if string :is "${q}" "a\\*b" { fileinto "quoted"; }
set :upperfirst "uf" "hello";
fileinto "${uf}";
