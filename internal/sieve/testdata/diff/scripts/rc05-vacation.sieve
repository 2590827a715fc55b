require ["vacation"];
# rule:[Out of office]
if true
{
	vacation :days 7 :addresses ["bob@example.com"] :subject "Out of office" :from "bob@example.com" "I am away until Monday.";
}
