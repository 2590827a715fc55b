require ["fileinto","relational","comparator-i;ascii-numeric"];
# rule:[score]
if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "5"
{
	fileinto "Junk";
}
