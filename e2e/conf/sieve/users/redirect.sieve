# rule:[forward]
if true
{
	redirect "@U_REDIR_TARGET@";
}
