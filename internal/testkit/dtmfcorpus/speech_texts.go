package dtmfcorpus

// speechTexts holds, per espeak-ng language, what a caller and an agent say
// around a card payment: counting, card-number-like digit strings read in
// groups and one by one, dates and amounts, and a call-centre script. The
// texts were written for this corpus. Digits are left as numerals so that
// espeak-ng reads them the way the language does.
var speechTexts = map[string][]string{
	"en": {
		"One, two, three, four, five, six, seven, eight, nine, ten. Eleven, twelve, thirteen, fourteen, fifteen, sixteen. Twenty, thirty, forty, fifty, sixty, seventy, eighty, ninety, one hundred. 2025, 1984, 3,141,592 and 27,000.",
		"My card number is 4 1 1 1, 1 1 1 1, 1 1 1 1, 1 1 1 1. Sorry, let me start again: 5 5 5 5, 5 5 5 5, 5 5 5 5, 4 4 4 4. The other card is 3 7 8 2, 8 2 2 4 6 3, 1 0 0 0 5. Security code 7 3 7. Account 60 11 11 11 11 11 11 17.",
		"The payment of 249 pounds 99 is due on the 3rd of March 2026. Your card expires in December 2027, that is 12 slash 27. The last payment was received on the 14th of July 2025 at a quarter to four. Your reference is 88 41 90 37.",
		"Good morning, you are through to the payments team, my name is Sarah. For your security this call is recorded. When you hear the tone, please key in your sixteen digit card number, followed by the hash key. Then the expiry date, month and year. Thank you, that has been taken. Is there anything else I can help you with today?",
	},
	"en-us": {
		"Thank you for calling customer service. Para español, oprima dos. Please say or enter your account number. I heard 9 1 7, 5 5 5, 0 1 2 3. Is that correct? Your balance is 1,482 dollars and 36 cents, due on November 15th.",
		"Okay so the card is a Visa, 4 0 1 2, 8 8 8 8, 8 8 8 8, 1 8 8 1, expiration oh nine twenty eight, and the zip code is 9 0 2 1 0. The phone number on the account is 2 1 2, 5 5 5, 0 1 9 9.",
		"Zero, one, two, three, four, five, six, seven, eight, nine. Ninety nine, eighty eight, seventy seven, sixty six, fifty five, forty four, thirty three, twenty two, eleven. One million two hundred thousand and six.",
	},
	"de": {
		"Eins, zwei, drei, vier, fünf, sechs, sieben, acht, neun, zehn. Elf, zwölf, dreizehn, vierzehn, fünfzehn. Zwanzig, dreißig, vierzig, fünfzig, hundert, tausend. 2025, 1989, 4.711 und 123.456.",
		"Meine Kartennummer lautet 4 1 1 1, 1 1 1 1, 1 1 1 1, 1 1 1 1. Die Prüfziffer ist 3 4 7. Die zweite Karte: 5 4 5 4, 5 4 5 4, 5 4 5 4, 5 4 5 4. Meine Kundennummer ist 77 03 19 42.",
		"Der Betrag von 149 Euro 90 wird am 3. März 2026 abgebucht. Ihre Karte ist gültig bis Dezember 2027, also 12 27. Die letzte Zahlung ist am 14. Juli 2025 um 15 Uhr 45 eingegangen.",
		"Guten Tag, Sie sind mit dem Zahlungsservice verbunden, mein Name ist Klaus Becker. Dieses Gespräch wird zu Ihrer Sicherheit aufgezeichnet. Bitte geben Sie jetzt Ihre Kartennummer über die Telefontastatur ein und bestätigen Sie mit der Rautetaste. Vielen Dank, die Zahlung war erfolgreich.",
	},
	"fr": {
		"Un, deux, trois, quatre, cinq, six, sept, huit, neuf, dix. Onze, douze, treize, quatorze, quinze, seize. Vingt, trente, quarante, cinquante, soixante, soixante-dix, quatre-vingts, quatre-vingt-dix, cent. 2025 et 1 234 567.",
		"Mon numéro de carte est le 4 9 7 3, 0 1 0 0, 0 0 0 0, 0 0 0 6. Le cryptogramme est 1 2 3. Mon numéro de client est le 06 12 34 56 78, et mon code postal 75011.",
		"Le prélèvement de 89 euros 50 aura lieu le 3 mars 2026. Votre carte expire en décembre 2027, soit 12 sur 27. Le dernier paiement a été reçu le 14 juillet 2025 à 15 h 45.",
		"Bonjour, vous êtes bien au service des paiements, je m'appelle Camille. Pour votre sécurité, cet appel est enregistré. Veuillez saisir maintenant votre numéro de carte sur le clavier de votre téléphone, puis appuyez sur la touche dièse. Merci, votre paiement a bien été accepté.",
	},
	"es": {
		"Uno, dos, tres, cuatro, cinco, seis, siete, ocho, nueve, diez. Once, doce, trece, catorce, quince. Veinte, treinta, cuarenta, cincuenta, cien, mil. 2025, 1492 y 350.000.",
		"El número de mi tarjeta es 4 5 0 7, 6 7 0 0, 0 0 0 0, 0 0 0 9. El código de seguridad es 9 8 7. Mi teléfono es el 6 1 2, 3 4 5, 6 7 8, y mi documento 12 345 678 Z.",
		"El cargo de 59 euros con 95 se realizará el 3 de marzo de 2026. Su tarjeta caduca en diciembre de 2027, es decir, 12 barra 27. El último pago se recibió el 14 de julio de 2025 a las 15 y 45.",
		"Buenos días, le atiende el servicio de pagos, soy Lucía. Por su seguridad, esta llamada se graba. Por favor, marque ahora el número de su tarjeta en el teclado del teléfono y pulse la tecla almohadilla. Muchas gracias, el pago se ha realizado correctamente.",
	},
	"it": {
		"Uno, due, tre, quattro, cinque, sei, sette, otto, nove, dieci. Undici, dodici, tredici, quattordici, quindici. Venti, trenta, quaranta, cinquanta, cento, mille. 2025, 1861 e 45.000.",
		"Il numero della mia carta è 5 1 0 5, 1 0 5 1, 0 5 1 0, 5 1 0 0. Il codice di sicurezza è 5 5 1. Il mio codice cliente è 33 81 40 27.",
		"L'addebito di 120 euro e 40 avverrà il 3 marzo 2026. La sua carta scade a dicembre 2027, cioè 12 27. L'ultimo pagamento è stato ricevuto il 14 luglio 2025 alle 15 e 45.",
		"Buongiorno, è in linea con il servizio pagamenti, sono Marco. Per la sua sicurezza questa telefonata viene registrata. Digiti ora il numero della carta sulla tastiera del telefono e prema il tasto cancelletto. Grazie, il pagamento è andato a buon fine.",
	},
	"pt": {
		"Um, dois, três, quatro, cinco, seis, sete, oito, nove, dez. Onze, doze, treze, catorze, quinze. Vinte, trinta, quarenta, cinquenta, cem, mil. 2025, 1500 e 72.000.",
		"O número do meu cartão é 4 2 4 2, 4 2 4 2, 4 2 4 2, 4 2 4 2. O código de segurança é 3 1 4. O meu número de contribuinte é 2 3 4 5 6 7 8 9 0.",
		"O débito de 75 euros e 30 será feito no dia 3 de março de 2026. O seu cartão é válido até dezembro de 2027, ou seja, 12 barra 27. O último pagamento foi recebido a 14 de julho de 2025 às 15 e 45.",
		"Bom dia, fala com o serviço de pagamentos, o meu nome é Joana. Para sua segurança, esta chamada é gravada. Por favor, introduza agora o número do seu cartão no teclado do telefone e prima a tecla cardinal. Obrigada, o pagamento foi aceite.",
	},
	"nl": {
		"Een, twee, drie, vier, vijf, zes, zeven, acht, negen, tien. Elf, twaalf, dertien, veertien, vijftien. Twintig, dertig, veertig, vijftig, honderd, duizend. 2025, 1648 en 250.000.",
		"Mijn kaartnummer is 5 5 5 5, 3 4 1 2, 4 4 4 4, 1 1 1 5. De beveiligingscode is 8 0 2. Mijn klantnummer is 44 19 07 63 en mijn postcode 1 0 1 2 A B.",
		"Het bedrag van 35 euro 10 wordt op 3 maart 2026 afgeschreven. Uw kaart verloopt in december 2027, dus 12 27. De laatste betaling is ontvangen op 14 juli 2025 om kwart voor vier.",
		"Goedemiddag, u spreekt met de betaalservice, mijn naam is Daan. Voor uw veiligheid wordt dit gesprek opgenomen. Toets nu uw kaartnummer in op het toetsenbord van uw telefoon en sluit af met een hekje. Dank u wel, de betaling is gelukt.",
	},
	"pl": {
		"Jeden, dwa, trzy, cztery, pięć, sześć, siedem, osiem, dziewięć, dziesięć. Jedenaście, dwanaście, trzynaście, czternaście, piętnaście. Dwadzieścia, trzydzieści, sto, tysiąc. 2025, 1918 i 64.000.",
		"Numer mojej karty to 4 0 0 0, 0 5 6 6, 5 5 6 6, 5 5 5 6. Kod bezpieczeństwa to 6 2 8. Mój numer klienta to 51 22 90 84.",
		"Opłata w wysokości 199 złotych 99 groszy zostanie pobrana 3 marca 2026. Karta jest ważna do grudnia 2027, czyli 12 27. Ostatnia płatność wpłynęła 14 lipca 2025 o godzinie 15:45.",
		"Dzień dobry, tu dział płatności, nazywam się Anna. Dla Pana bezpieczeństwa rozmowa jest nagrywana. Proszę teraz wpisać numer karty na klawiaturze telefonu i zatwierdzić krzyżykiem. Dziękuję, płatność została przyjęta.",
	},
	"sv": {
		"Ett, två, tre, fyra, fem, sex, sju, åtta, nio, tio. Elva, tolv, tretton, fjorton, femton. Tjugo, trettio, fyrtio, femtio, hundra, tusen. 2025 och 1 000 000.",
		"Mitt kortnummer är 4 5 7 1, 0 0 0 0, 0 0 0 0, 0 0 0 1. Säkerhetskoden är 4 1 9. Mitt personnummer slutar på 12 34.",
		"Beloppet på 499 kronor dras den 3 mars 2026. Kortet gäller till december 2027, alltså 12 27. Hej och välkommen till betalservice, samtalet spelas in. Slå nu ditt kortnummer och avsluta med fyrkant.",
	},
	"ru": {
		"Один, два, три, четыре, пять, шесть, семь, восемь, девять, десять. Одиннадцать, двенадцать, двадцать, тридцать, сто, тысяча. 2025 и 1 500 000.",
		"Номер моей карты 2 2 0 0, 1 2 3 4, 5 6 7 8, 9 0 1 0. Код безопасности 7 7 1. Платёж 3 500 рублей будет списан 3 марта 2026 года. Здравствуйте, служба оплаты, разговор записывается. Пожалуйста, введите номер карты и нажмите решётку.",
	},
	"cs": {
		"Jedna, dva, tři, čtyři, pět, šest, sedm, osm, devět, deset. Dvacet, třicet, sto, tisíc. Číslo mé karty je 5 1 0 0, 0 0 0 0, 0 0 0 0, 0 0 0 8. Platba 1 250 korun proběhne 3. března 2026. Dobrý den, hovor je nahráván, zadejte prosím číslo karty a potvrďte mřížkou.",
	},
}
