/* Le programme des exercices du TP 09 : à compiler dans l'étape « build » du Dockerfile. */
#include <stdio.h>

int main(void)
{
    puts("Bonjour depuis une image sans compilateur !");
    return 0;
}
